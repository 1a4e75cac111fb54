"""reuse_ref.sim.llm_trace: LLM inference traces read as workloads through a stated duration model."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from reuse_ref import Job
from reuse_ref.sim.llm_trace import (
    LLMRequest,
    prefill_share,
    read_llm_requests,
    read_llm_trace,
    request_seconds,
)

AZURE = Path(__file__).resolve().parent.parent / "data" / "azure-llm-inference-2023" / "code.csv"
RATES = dict(prefill_tokens_per_s=4000, decode_tokens_per_s=40, overhead_s=0.1)


def write(tmp_path, text, name="trace.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_the_azure_code_trace_in_the_repository():
    jobs = read_llm_trace(AZURE, **RATES)
    assert len(jobs) == 8819  # one header line, then one request a line
    assert jobs[0] == Job(0, 0.0, 0.1 + 4808 / 4000 + 10 / 40)  # 2023-11-16 18:17:03.9799600,4808,10
    ats = [j.at for j in jobs]
    assert ats == sorted(ats)
    assert [j.id for j in jobs] == list(range(len(jobs)))  # the file is in arrival order
    # the last request, 2023-11-16 19:14:19.9280160, to the digit of the file
    assert jobs[-1].at == pytest.approx(3435.948056, abs=1e-9)
    assert jobs[-1].duration == pytest.approx(0.1 + 549 / 4000 + 173 / 40)
    assert all(j.duration > 0.1 for j in jobs)


def test_the_duration_model_is_exact_on_a_small_trace(tmp_path):
    path = write(tmp_path, "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                           "2023-11-16 23:59:59.5,1000,0\n"
                           "\n"
                           "2023-11-17 00:00:01.25,0,20\n"
                           "2023-11-17 00:00:00,500,10\n")
    jobs = read_llm_trace(path, prefill_tokens_per_s=500, decode_tokens_per_s=10, overhead_s=0.5, env="gpu")
    # sorted by arrival, across midnight; ids keep each request's position in the file
    assert jobs == [Job(0, 0.0, 0.5 + 2.0, env="gpu"), Job(2, 0.5, 0.5 + 1.0 + 1.0, env="gpu"),
                    Job(1, 1.75, 0.5 + 2.0, env="gpu")]
    assert request_seconds(500, 10, prefill_tokens_per_s=500, decode_tokens_per_s=10, overhead_s=0.5) == 2.5
    # prefill: 2 + 1 s of the 7.5 s in all
    requests = read_llm_requests(path)
    assert requests[1] == LLMRequest(2, 0.5, 500, 10)
    assert prefill_share(requests, prefill_tokens_per_s=500, decode_tokens_per_s=10, overhead_s=0.5) == 3 / 7.5
    assert prefill_share([], prefill_tokens_per_s=1, decode_tokens_per_s=1) == 0.0


def test_columns_in_any_order_an_open_file_and_a_byte_order_mark(tmp_path):
    text = "\ufeffGeneratedTokens, TIMESTAMP ,ContextTokens\n8,2023-11-16 18:00:00.0000001,100\n4,2023-11-16 18:00:02,0\n"
    expected = [Job(0, 0.0, 100 / 50 + 8 / 4), Job(1, 2.0 - 1e-7, 4 / 4)]
    rates = dict(prefill_tokens_per_s=50, decode_tokens_per_s=4)
    assert read_llm_trace(io.StringIO(text), **rates) == expected
    path = tmp_path / "bom.csv"
    path.write_text(text, encoding="utf-8")
    assert read_llm_trace(path, **rates) == expected
    assert read_llm_trace(write(tmp_path, "TIMESTAMP,ContextTokens,GeneratedTokens\n"), **rates) == []


@pytest.mark.parametrize("param, value", [
    ("prefill_tokens_per_s", 0), ("prefill_tokens_per_s", -5.0), ("prefill_tokens_per_s", float("inf")),
    ("prefill_tokens_per_s", True), ("prefill_tokens_per_s", "8000"), ("decode_tokens_per_s", 0.0),
    ("decode_tokens_per_s", float("nan")), ("overhead_s", -0.1), ("overhead_s", None),
])
def test_bad_rates_are_refused_before_the_file_is_read(rejects, param, value):
    rates = dict(RATES, **{param: value})
    allowed = "seconds >= 0" if param == "overhead_s" else "tokens per second > 0"
    with rejects(param, value, allowed):
        read_llm_trace("no-such-file.csv", **rates)
    with rejects(param, value, allowed):
        request_seconds(1, 1, **rates)


def test_bad_env_and_bad_token_counts_are_refused(rejects):
    with rejects("env", "", "a non-empty str"):
        read_llm_trace(AZURE, env="", **RATES)
    with rejects("context_tokens", -1, "a whole number of tokens >= 0"):
        request_seconds(-1, 3, **RATES)
    with rejects("generated_tokens", 2.5, "a whole number of tokens >= 0"):
        request_seconds(1, 2.5, **RATES)


def test_a_missing_file_is_a_value_error_naming_the_path(rejects, tmp_path):
    missing = str(tmp_path / "missing.csv")
    with rejects("path", missing, "No such file", "TIMESTAMP,ContextTokens,GeneratedTokens"):
        read_llm_trace(missing, **RATES)
    with rejects("path", str(tmp_path), "TIMESTAMP,ContextTokens,GeneratedTokens"):
        read_llm_requests(tmp_path)  # a folder


@pytest.mark.parametrize("text, fragment", [
    ("", "line 1: the file is empty; it needs the header TIMESTAMP,ContextTokens,GeneratedTokens"),
    ("at,duration\n0,5\n", "line 1: header='at,duration' is not valid: the columns TIMESTAMP, ContextTokens, "
                           "GeneratedTokens, each once"),
    ("TIMESTAMP,ContextTokens\n2023-11-16 18:00:00,5\n", "line 1: header='TIMESTAMP,ContextTokens' is not valid"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens,Extra\n", "header='TIMESTAMP,ContextTokens,GeneratedTokens,Extra'"),
    ("TIMESTAMP,ContextTokens,ContextTokens\n", "each once"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00,5,1\n2023-11-16 18:00:01,x,1\n",
     "line 3, column ContextTokens: ContextTokens='x' is not valid: a whole number of tokens >= 0"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00,5,-1\n",
     "line 2, column GeneratedTokens: GeneratedTokens='-1' is not valid: a whole number of tokens >= 0"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00,5,1.5\n", "GeneratedTokens='1.5' is not valid"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00,5,1\n",
     "line 2, column TIMESTAMP: TIMESTAMP='2023-11-16 18:00' is not valid: a time such as "
     "'2023-11-16 18:17:03.9799600'"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-13-16 18:00:00,5,1\n", "TIMESTAMP='2023-13-16 18:00:00'"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00+00:00,5,1\n", "no zone suffix"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00,5\n", "line 2: 2 fields, but the header names 3"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\n\"2023-11-16 18:00:00,5,1\n", "line 2: 1 fields, but the header"),
])
def test_bad_files_name_the_line_the_column_and_what_is_allowed(tmp_path, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        read_llm_trace(path, **RATES)
    assert str(info.value).startswith(f"{path}, ") and fragment in str(info.value), str(info.value)


def test_a_file_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"TIMESTAMP,ContextTokens,GeneratedTokens\n\xff\xfe\x00\n")
    with pytest.raises(ValueError, match="not a UTF-8 text file"):
        read_llm_requests(path)


def test_rates_so_small_that_a_duration_overflows_are_refused(tmp_path):
    path = write(tmp_path, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00,5,1\n")
    with pytest.raises(ValueError, match="prefill_tokens_per_s, decode_tokens_per_s=.*finite duration"):
        read_llm_trace(path, prefill_tokens_per_s=1e-320, decode_tokens_per_s=1)
