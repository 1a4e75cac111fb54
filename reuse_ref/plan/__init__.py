"""Which policy for this traffic: candidates simulated, charged over one window, and chosen.

``planner`` (``plan``, ``Plan``, ``Candidate``), ``candidates`` (the candidate policies,
the target, the prices), ``sweep`` (the candidates run one by one, in processes or as
Ray tasks).
"""
from .candidates import KNOBS, Prices, Target, candidate_policies, parse_target, parse_values
from .planner import Candidate, Plan, front_table, plan

__all__ = ["plan", "Plan", "Candidate", "front_table", "Target", "Prices", "KNOBS",
           "candidate_policies", "parse_target", "parse_values"]
