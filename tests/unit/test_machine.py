"""What a benchmark records about the machine it ran on."""

from nnmatch_tools.machine import cpu_of, describe_machine

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
flags\t\t: fpu sse avx2 avx512f avx512_vnni avx512_bf16 avx512_vp2intersect

processor\t: 1
cpu family\t: 99
model name\t: Something Else
flags\t\t: fpu amx_int8
"""


def test_the_first_processors_family_model_and_deciding_flags() -> None:
    assert cpu_of(CPUINFO) == {
        "cpu_model": "AMD EPYC",
        "cpu_family": "26",
        "cpu_model_number": "2",
        "cpu_flags": ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"],
    }


def test_no_cpuinfo_says_unknown() -> None:
    assert cpu_of("") == {
        "cpu_model": "unknown",
        "cpu_family": None,
        "cpu_model_number": None,
        "cpu_flags": [],
    }


def test_the_callers_versions_join_the_description() -> None:
    machine = describe_machine(faiss="1.0")
    assert machine["faiss"] == "1.0"
    assert {"cpu_model", "cpu_family", "cpu_model_number", "cpu_flags"} <= machine.keys()
    assert machine["cpus"]
    assert len(machine["load_average_at_start"]) == 3
