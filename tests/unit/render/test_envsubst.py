"""The `${var}` language, rule by rule, against what Flux's envsubst does."""

from __future__ import annotations

import pytest

from kidp_gitops.render import envsubst

VARS = {
    "var": "abc",
    "empty": "",
    "name": "abcdEFGH28ij",
    "path": "/home/bozo/ideas/thoughts.for.today",
    "stringZ": "abcABC123ABCabc",
    "file": "bash.string.txt",
    "slashes": "path/to/file",
    "default_var": "foo",
}


def expand(text: str, variables: dict[str, str] | None = None) -> str:
    return envsubst.expand(text, (VARS if variables is None else variables).get)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("plain text, no dollars", "plain text, no dollars"),
        ("${var}", "abc"),
        ("a ${var} b ${var}", "a abc b abc"),
        ("${empty}", ""),
        ("$var and $ alone", "$var and $ alone"),
        # defaults: Flux treats `=`, `:=` and `:-` alike, for unset and empty
        ("${unset:=dflt}", "dflt"),
        ("${unset:-dflt}", "dflt"),
        ("${unset=dflt}", "dflt"),
        ("${empty:=dflt}", "dflt"),
        ("${empty=dflt}", "dflt"),
        ("${var:=dflt}", "abc"),
        ("${unset:=}", ""),
        ("${unset:=a b: c}", "a b: c"),
        ("${unset:=${default_var}}", "foo"),
        ("${unset=prefix${default_var}-suffix}", "prefixfoo-suffix"),
        ("${unset:?msg}", "msg"),
        ("${unset:+alt}", "alt"),
        # escapes
        ("$${var}", "${var}"),
        ("$$", "$"),
        ("$$$", "$$"),
        ("$$${var}", "$abc"),
        ("some ${var}$${x$${var}$var${var}", "some abc${x${var}$varabc"),
        ("$${unset:=${default_var}}", "${unset:=foo}"),
        # functions
        ("${#name}", "12"),
        ("${name^}", "AbcdEFGH28ij"),
        ("${name^^}", "ABCDEFGH28IJ"),
        ("${name,}", "abcdEFGH28ij"),
        ("${name,,}", "abcdefgh28ij"),
        ("${path:11}", "ideas/thoughts.for.today"),
        ("${path:11:5}", "ideas"),
        ("${path:-5}", "/home/bozo/ideas/thoughts.for.today"),  # `:-` is a default
        ("${var:-1:1}", "abc"),
        ("${name:1:-1}", "bcdEFGH28i"),
        ("${name:100}", ""),
        ("${name:x}", "abcdEFGH28ij"),
        ("${file#*.}", "string.txt"),
        ("${file##*.}", "txt"),
        ("${file%.*}", "bash.string"),
        ("${file%%.*}", "bash"),
        ("${slashes##*/}", "file"),
        ("${slashes#*/}", "to/file"),
        ("${stringZ/abc/xyz}", "xyzABC123ABCabc"),
        ("${stringZ//abc/xyz}", "xyzABC123ABCxyz"),
        ("${stringZ/#abc/XYZ}", "XYZABC123ABCabc"),
        ("${stringZ/%abc/XYZ}", "abcABC123ABCXYZ"),
        ("${stringZ/abc/}", "ABC123ABCabc"),
        ("${stringZ/#/pre-}", "pre-abcABC123ABCabc"),
        ("${slashes/\\//-}", "path-to/file"),
        ("${slashes//\\//-}", "path-to-file"),
        ("${unset:=${name^^}}", "ABCDEFGH28IJ"),
    ],
)
def test_expansion(text: str, want: str) -> None:
    assert expand(text) == want


@pytest.mark.parametrize(
    "text",
    [
        "${unset}",
        "${#unset}",
        "${unset^^}",
        "${unset,}",
        "${unset:0:2}",
        "${unset/a/b}",
        "${unset#a}",
        "${unset%%a}",
        "x ${var} ${unset} y",
        "${var:=${unset}}",  # defaults are expanded even when not used, as in Flux
    ],
)
def test_strict_mode_names_the_unset_variable(text: str) -> None:
    with pytest.raises(envsubst.Unset) as caught:
        expand(text)
    assert caught.value.name == "unset"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("${", "unable to parse variable name"),
        ("${}", "unable to parse variable name"),
        ("${ var}", "unable to parse variable name"),
        ("${var", "missing closing brace"),
        ("${var-default}", "missing closing brace"),  # not supported by Flux either
        ("${var.field}", "missing closing brace"),
        ("${#}", "bad substitution"),
        ("${var/abc}", "bad substitution"),
        ("${var^^x}", "bad substitution"),
        ("${var:=never closed", "unable to parse substitution within function"),
        ("${var#}", "unable to parse substitution within function"),
        ("${var:}", "unable to parse substitution within function"),
    ],
)
def test_malformed_expressions(text: str, problem: str) -> None:
    with pytest.raises(envsubst.ParseError) as caught:
        expand(text)
    assert caught.value.problem == problem
    assert caught.value.expression.startswith("${")


def test_values_are_not_expanded_again() -> None:
    assert expand("${a}", {"a": "${b}", "b": "no"}) == "${b}"
