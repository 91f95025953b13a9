"""Metrics of the benchmark tasks: hand-checked tables of right and wrong answers, and robustness."""

import json
from fractions import Fraction
from pathlib import Path

import dspy
import pytest

from dspy_dlpo.program import score_with_metric
from dspy_dlpo.tasks import bbh_metric, make_bbh_metric, math_metric, number_metric
from dspy_dlpo.tasks.latex import extract_answer, last_boxed, normalize
from dspy_dlpo.tasks.mathexpr import evaluate
from dspy_dlpo.tasks.numeric import format_number, last_number

MATH500 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "math500" / "test.jsonl"


def ex(answer):
    return dspy.Example(question="q", answer=answer).with_inputs("question")


def pred(answer):
    return dspy.Prediction(answer=answer)


def score(metric, gold, answer):
    result = metric(ex(gold), pred(answer))
    assert isinstance(result, dspy.Prediction)
    assert result.score in (0.0, 1.0) and isinstance(result.feedback, str) and result.feedback
    return result.score


NUMBER_CASES = [
    ("42", "42", 1), ("42", "42.0", 1), ("42", "42.", 1), ("42", "The answer is 42.", 1),
    ("42", "41.5", 0), ("42", "4.2", 0), ("42", "420", 0), ("42", "-42", 0),
    ("1234", "$1,234", 1), ("1234.5", "$1,234.50", 1), ("1234", "1,234.00 dollars", 1),
    ("1234567", "1,234,567", 1), ("1234", "12,34", 0), ("50", "50%", 1), ("0.5", ".5", 1),
    ("-7", "-7", 1), ("-7", "It fell by -7 degrees", 1), ("-7", "\u22127", 1), ("-5", "-$5", 1),
    ("7", "+7", 1), ("2", "5-3=2", 1), ("5", "3-5", 1), ("-5", "3-5", 0),
    ("42", r"so \boxed{42} and then 7 more", 1), ("7", r"so \boxed{42} and then 7 more", 0),
    ("10080", r"10,\!080", 1), ("1234", "1{,}234", 1), ("70000", "70\u00a0000", 1),
    ("70000", "70\u202f000", 1), ("80000", "80.000", 0), ("3", "1, 2, 3", 1),
    ("42", "Answer: 42 apples (not 41)", 0), ("18", "She makes $18 every day.", 1),
    ("5", "no number here", 0), ("5", "", 0), ("2125", "2,125", 1), ("2,125", "2125", 1),
    ("192157.", "192157", 1), ("0", "0", 1), ("0", "-0", 1),
]


@pytest.mark.parametrize("gold,answer,expected", NUMBER_CASES)
def test_number_metric(gold, answer, expected):
    assert score(number_metric, gold, answer) == expected


def test_number_feedback_explains_the_reading():
    assert number_metric(ex("42"), pred("41.5")).feedback == \
        "Expected 42 but the answer field was '41.5' (its final number reads as 41.5)."
    assert "contained no number" in number_metric(ex("42"), pred("forty-two")).feedback
    assert "reads as 80" in number_metric(ex("80000"), pred("80.000")).feedback
    assert number_metric(ex("42"), pred("42")).feedback.startswith("Correct")


@pytest.mark.parametrize("text,value", [
    ("1,234", 1234), ("$1,234.50", Fraction(2469, 2)), ("-3.25", Fraction(-13, 4)), ("x = 7, y = -2", -2),
    ("from 3 to 5", 5), ("1,2345", 2345), (r"\boxed{1,000} people", 1000), ("rank 5th", 5),
])
def test_last_number(text, value):
    assert last_number(text)[0] == value


@pytest.mark.parametrize("value,text", [(Fraction(42), "42"), (Fraction(-1, 2), "-0.5"),
                                        (Fraction(1, 3), "1/3"), (Fraction(672, 10**7), "0.0000672")])
def test_format_number(value, text):
    assert format_number(value) == text


MATH_CASES = [
    # fractions and their spellings
    (r"\frac{14}{3}", "14/3", 1), (r"\frac{14}{3}", r"\dfrac{14}{3}", 1), (r"\frac{14}{3}", r"\tfrac{14}{3}", 1),
    (r"\frac{14}{3}", r"4\frac{2}{3}", 1), (r"\frac{14}{3}", "4.67", 0), (r"\frac{14}{3}", r"\frac{3}{14}", 0),
    (r"\frac 34", "0.75", 1), (r"\frac 34", r"\frac{3}{4}", 1), (r"\frac{1}{2}", r"\frac12", 1),
    (r"\frac9{19}", r"\frac{9}{19}", 1), (r"\frac{3}{56}", r"\frac{3}{65}", 0), ("0.15", r"\frac{3}{20}", 1),
    (r"1\frac{4}{5}", "1.8", 1), (r"137 \frac{1}{2}", "137.5", 1), (r"\frac{1}{3}", "0.333", 0),
    (r"\frac{1}{3}", "0.3333333333", 0),
    # numbers
    ("2220", "2,220", 1), ("2220", "2220.0", 1), ("-50", "50", 0), (r"10,\!080", "10080", 1),
    (r"11,\! 111,\! 111,\! 100", "11111111100", 1), (r"11,\! 111,\! 111,\! 100", "11111111101", 0),
    (".0000672", "0.0000672", 1), (r"\$32,\!348", "$32,348", 1), (r"\$18.90", "18.9", 1), ("5", "5.", 1),
    # boxed, delimiters and lead-ins
    (r"\sqrt{51}", r"so \boxed{\sqrt{51}}.", 1), ("42", r"\boxed{\frac{84}{2}}", 1),
    (r"\frac{14}{3}", r"The answer is $\frac{14}{3}$.", 1), ("5", r"\(5\)", 1), ("5", "$5$", 1),
    ("5", r"\boxed{5} but maybe \boxed{6}", 0), ("-50", "\u221250", 1), ("25", r"25\%", 1),
    # radicals, pi, numeric equivalence
    (r"3\sqrt{13}", r"3 \sqrt{13}", 1), (r"3\sqrt{13}", r"\sqrt{117}", 1), (r"3\sqrt{13}", "10.8167", 0),
    (r"11\sqrt2", r"11\sqrt{2}", 1), (r"\frac{\sqrt{3}}{3}", r"\frac{1}{\sqrt{3}}", 1),
    (r"\frac{\sqrt{3}}{3}", "0.577", 0), (r"12\pi", r"12 \pi", 1), (r"12\pi", "37.699", 0), (r"\pi", "3.14", 0),
    # degrees, units, text
    (r"90^\circ", "90", 1), (r"90^\circ", r"90^{\circ}", 1), (r"90^\circ", "90 degrees", 1), (r"90^\circ", "91", 0),
    (r"15\mbox{ cm}^2", "15", 1), (r"5.4 \text{ cents}", "5.4", 1), (r"15\mbox{ cm}^2", "16 cm^2", 0),
    (r"\frac{270}7\text{ degrees}", r"\frac{270}{7}", 1), (r"\frac{270}7\text{ degrees}", r"\frac{270}{7}^\circ", 1),
    (r"\text{Evelyn}", "Evelyn", 1), (r"\text{Evelyn}", "evelyn", 1), (r"\text{Evelyn}", "Navin", 0),
    (r"\text{(C)}", "C", 1), (r"\text{(C)}", "(C)", 1), (r"\text{(C)}", "(D)", 0), (r"6+9i", r"6+9\mathrm{i}", 1),
    # variables and prefixes
    ("x=5", "5", 1), ("x=5", "x = 5", 1), ("x=5", "y=5", 0), ("y = 2x + 3", "2x+3", 1), ("y = 2x + 3", "y=2x-3", 0),
    (r"x \in [-2,7]", "[-2, 7]", 1), (r"x \in [-2,7]", "(-2, 7)", 0), ("p - q", "p-q", 1), ("p - q", "q-p", 0),
    ("6 - 5i", "6-5i", 1), ("6 - 5i", "6+5i", 0), ("x^3+3x-6", "x^3 + 3x - 6", 1), ("2k+2", "2k+3", 0),
    # tuples, intervals, lists, sets, unions, matrices
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3, \pi/2)", 1), (r"\left( 3, \frac{\pi}{2} \right)", "(3, \u03c0/2)", 1),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(\frac{\pi}{2}, 3)", 0),
    (r"\left( 3, \frac{\pi}{2} \right)", "(3, 1.5708)", 0),
    (r"\left( \frac{3}{2}, -13 \right)", r"\left(\dfrac32,\ -13\right)", 1), ("(1,-16,-4,43)", "(1,-16,-4,-43)", 0),
    (r"(-\infty, 0]", r"(-\infty,0]", 1), (r"(-\infty, 0]", r"(-\infty,0)", 0), ("(3,4]", "[3,4]", 0),
    ("1,-2", "-2, 1", 1), ("1,-2", "1", 0), ("1,-2", "1,-2,3", 0), ("3, 5, 7", "7,5,3", 1), ("(1,-2)", "1,-2", 0),
    (r"(-\infty, 2) \cup (3, \infty)", r"(-\infty,2)\cup(3,\infty)", 1),
    (r"(-\infty, 2) \cup (3, \infty)", r"(3,\infty)\cup(-\infty,2)", 0),
    (r"\{1\pm\sqrt{5},-2\}", r"-2, 1\pm\sqrt{5}", 1),
    (r"\begin{pmatrix} -1/3 \\ 2/3 \\ 5/3 \end{pmatrix}",
     r"\begin{pmatrix} -\frac{1}{3} \\ \frac{2}{3} \\ \frac{5}{3} \end{pmatrix}", 1),
    (r"\begin{pmatrix} -1/3 \\ 2/3 \\ 5/3 \end{pmatrix}", r"\begin{pmatrix} -1/3 \\ 5/3 \\ 2/3 \end{pmatrix}", 0),
    ("52_8", "52_{8}", 1), ("52_8", "52", 0),
    # empty or unusable answers
    ("42", "", 0), ("42", r"\boxed{}", 0), ("42", "None", 0),
]


@pytest.mark.parametrize("gold,answer,expected", MATH_CASES)
def test_math_metric(gold, answer, expected):
    assert score(math_metric, gold, answer) == expected


@pytest.mark.parametrize("text,boxed", [
    (r"so \boxed{\frac{1}{2}}.", r"\frac{1}{2}"), (r"\boxed{\{1,2\}}", r"\{1,2\}"), (r"\boxed 5", "5"),
    (r"\boxed{1} then \boxed{\left( 3, \frac{\pi}{2} \right)}", r"\left( 3, \frac{\pi}{2} \right)"),
    (r"\fbox{7}", "7"), ("no box", None), (r"\boxed{unclosed", None),
])
def test_last_boxed(text, boxed):
    assert last_boxed(text) == boxed


@pytest.mark.parametrize("raw,canonical", [
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\frac{\pi}{2})"), (r"\dfrac{17}{50}", r"\frac{17}{50}"),
    (r"\frac 59", r"\frac{5}{9}"), (r"\frac{270}7", r"\frac{270}{7}"), (r"\frac{\frac12}{3}", r"\frac{\frac{1}{2}}{3}"),
    (r"4210_{5}", "4210_5"), (r"\$32,\!348", "32348"), (r"864 \mbox{ inches}^2", "864"), (r"\text{east}", "east"),
    (r"\sqrt[3]{x}", r"\sqrt[3]{x}"), (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix}1\\2\end{pmatrix}"),
])
def test_normalize(raw, canonical):
    assert normalize(raw) == canonical


@pytest.mark.parametrize("text,value", [
    ("2^{10}", 1024), (r"\sqrt{16}", 4), (r"\sqrt[3]{27}", 3), (r"1\frac{4}{5}", Fraction(9, 5)), ("2(3+4)", 14),
    ("-2^2", -4), ("1/2/2", Fraction(1, 4)), (r"\frac{1}{0}", None), ("x+1", None), (r"\sqrt{-1}", None),
    ("2^{5000}", None), ("1+", None), (r"2\cdot3", None),  # \cdot only becomes * in normalize()
])
def test_evaluate(text, value):
    assert evaluate(text) == value


def test_evaluate_irrational_is_float():
    assert evaluate(r"2\pi") == pytest.approx(6.283185307)


def test_extract_answer():
    assert extract_answer("The final answer is: $x = 5$.") == "x = 5"
    assert extract_answer(r"We find $a=2$, so the answer is $7$.") == "7"


@pytest.mark.skipif(not MATH500.is_file(), reason="needs ../shared/data/math500")
def test_math500_reference_solutions_score_one():
    rows = [json.loads(line) for line in MATH500.read_text().splitlines()]
    for row in rows:
        assert math_metric(ex(row["answer"]), pred(row["solution"])).score == 1.0, row["unique_id"]
        assert math_metric(ex(row["answer"]), pred(row["answer"])).score == 1.0, row["unique_id"]


BBH_CASES = [
    ("(A)", "(A)", 1), ("(A)", "A", 1), ("(A)", " (A). ", 1), ("(A)", "'(A)'", 1), ("(A)", "**(A)**", 1),
    ("(A)", "(B)", 0), ("(A)", "B", 0), ("(A)", "(a)", 0), ("(A)", "(A) Tuesday", 0), ("(A)", "AB", 0),
    ("True", "True", 1), ("True", "true", 1), ("True", "True.", 1), ("True", '"True"', 1), ("True", "False", 0),
    ("True", "Truee", 0), ("True", "not True", 0), ("Yes", "yes", 1), ("No", "Yes", 0), ("valid", "invalid", 0),
    ("invalid", "Invalid", 1), ("8", "8", 1), ("8", "eight", 0), ("8", "8.0", 0), ("8", "18", 0),
    ("dearth, wind, & fire", "Dearth, Wind, & Fire", 1), ("] ] >", "] ] >", 1),
]


@pytest.mark.parametrize("gold,answer,expected", BBH_CASES)
def test_bbh_metric(gold, answer, expected):
    assert score(bbh_metric, gold, answer) == expected


WORDS = "barn damp delmarva dot it&t"


@pytest.mark.parametrize("answer,expected", [
    (WORDS, 1), (WORDS + ".", 1), ("  barn damp  delmarva dot it&t ", 1), ("barn, damp, delmarva, dot, it&t", 0),
    ("damp barn delmarva dot it&t", 0), ("Barn damp delmarva dot it&t", 0), ("barn damp delmarva dot", 0),
    (WORDS + " dot", 0), ("barn\ndamp\ndelmarva\ndot\nit&t", 1),
])
def test_word_sorting_is_an_exact_token_sequence(answer, expected):
    assert score(make_bbh_metric("word_sorting"), WORDS, answer) == expected


@pytest.mark.parametrize("answer,expected", [("] ] >", 1), ("]]>", 1), ("] ]", 0), ("] > ]", 0), ("", 0)])
def test_dyck_ignores_spaces_only(answer, expected):
    assert score(make_bbh_metric("dyck_languages"), "] ] >", answer) == expected


def test_bbh_feedback_is_specific():
    assert "only the option label" in bbh_metric(ex("(A)"), pred("(A) Tuesday")).feedback
    assert bbh_metric(ex("(A)"), pred("(B)")).feedback == "Expected (A) but the answer field was '(B)'."
    ws = make_bbh_metric("word_sorting")
    assert "position 1 expected 'barn'" in ws(ex(WORDS), pred("damp barn delmarva dot it&t")).feedback
    assert "missing ['it&t']" in ws(ex(WORDS), pred("barn damp delmarva dot")).feedback
    assert ws.__name__ == "bbh_word_sorting_metric"


@pytest.mark.parametrize("bad", ["", "Word_Sorting", "bbh/word_sorting", None, 3])
def test_make_bbh_metric_rejects_bad_names(bad):
    with pytest.raises(ValueError, match="BBH task name"):
        make_bbh_metric(bad)


ALL_METRICS = [number_metric, math_metric, bbh_metric, make_bbh_metric("word_sorting")]


@pytest.mark.parametrize("metric", ALL_METRICS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("prediction,needle", [
    (None, "no prediction"), (dspy.Prediction(), "no 'answer' field"), (dspy.Prediction(answer=None), "is None"),
    (dspy.Prediction(answer=["42"]), "type list"), (dspy.Prediction(answer=True), "type bool"),
    (dspy.Prediction(answer={"v": 42}), "type dict"), ("42", "got a str"), (42, "got a int"),
    (dspy.Prediction(reasoning="42"), "no 'answer' field"),
])
def test_bad_predictions_score_zero_with_feedback(metric, prediction, needle):
    result = metric(ex("42"), prediction)
    assert result.score == 0.0 and needle in result.feedback


@pytest.mark.parametrize("metric", ALL_METRICS, ids=lambda m: m.__name__)
def test_bad_examples_score_zero_with_feedback(metric):
    assert metric(None, pred("42")).score == 0.0
    result = metric(dspy.Example(question="q").with_inputs("question"), pred("42"))
    assert result.score == 0.0 and "Cannot score" in result.feedback


@pytest.mark.parametrize("metric", ALL_METRICS, ids=lambda m: m.__name__)
def test_calling_conventions(metric):
    gold, answer = ex("42"), pred("42")
    if metric is ALL_METRICS[-1]:
        gold, answer = ex("a b"), pred("a b")
    assert metric(gold, answer).score == 1.0
    assert metric(gold, answer, None).score == 1.0
    assert metric(gold, answer, [], "self.predict", []).score == 1.0  # GEPA's five arguments
    assert metric(gold, answer, trace=None, pred_name="p", pred_trace=None).score == 1.0
    assert metric(gold, {"answer": answer.answer}).score == 1.0  # a plain dict works too
    assert float(metric(gold, answer)) == 1.0


def test_results_are_truthy_only_when_correct():
    # BootstrapFewShot (no threshold) keeps a demo when ``metric(example, pred, trace)`` is truthy
    for metric, gold, right, wrong in [(number_metric, "42", "42", "41"), (math_metric, "1/2", "0.5", "0.6"),
                                       (bbh_metric, "(A)", "A", "B")]:
        assert metric(ex(gold), pred(right), []) and not metric(ex(gold), pred(wrong), [])
        assert not metric(ex(gold), None, [])
        assert isinstance(metric(ex(gold), pred(right)), dspy.Prediction)


def test_numeric_answer_fields_are_accepted():
    assert number_metric(ex("42"), pred(42)).score == 1.0
    assert number_metric(ex("42"), pred(42.0)).score == 1.0
    assert math_metric(ex(r"\frac{1}{2}"), pred(0.5)).score == 1.0


def test_metrics_plug_into_the_optimizer_and_dspy_evaluate():
    score_value, feedback, error = score_with_metric(number_metric, ex("7"), pred("6"), [])
    assert (score_value, error) == (0.0, None) and feedback.startswith("Expected 7")

    class Echo(dspy.Module):
        def forward(self, question):
            return dspy.Prediction(answer=question)

    devset = [dspy.Example(question=q, answer=a).with_inputs("question") for q, a in [("3", "3"), ("4", "5")]]
    result = dspy.Evaluate(devset=devset, metric=number_metric, num_threads=1, display_progress=False)(Echo())
    assert result.score == pytest.approx(50.0)


@pytest.mark.parametrize("metric", ALL_METRICS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("text", ["1" + " " * 30000 + "x!", "1\\text{" + "a " * 5000 + "!",
                                  "{" * 5000 + "1" + "}" * 5000, "1," * 50000 + "5", "(" * 3000 + "1" + ")" * 3000,
                                  r"\frac" * 2000])
def test_pathological_answers_are_scored_quickly(metric, text):
    import time

    started = time.perf_counter()
    assert metric(ex("42"), pred(text)).score == 0.0
    # ~0.15 s here; a backtracking regex takes minutes. The bound leaves room for a loaded CI machine
    # (1 s failed once while two llama.cpp threads held both cores).
    assert time.perf_counter() - started < 5.0


def test_metric_calling_conventions_of_dspy_and_gepa():
    seen = []

    def two(gold, pred):
        seen.append("two")
        return 1.0

    def three(gold, pred, trace):
        seen.append(("three", trace))
        return True

    def gepa_style(gold, pred, trace, pred_name, pred_trace):  # no defaults, as GEPA calls it
        seen.append(("gepa", pred_name, pred_trace))
        return dspy.Prediction(score=0.5, feedback="half right")

    assert score_with_metric(two, ex("1"), pred("1"), ["t"]) == (1.0, "", None)
    assert score_with_metric(three, ex("1"), pred("1"), ["t"])[0] == 1.0
    assert score_with_metric(gepa_style, ex("1"), pred("1"), ["t"]) == (0.5, "half right", None)
    assert seen == ["two", ("three", ["t"]), ("gepa", None, None)]
