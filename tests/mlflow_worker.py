"""Runs scripted DLPO compiles under MLflow in their own process (autolog patches DSPy globally).

``python mlflow_worker.py TRACKING_URI in-order``: ``import dspy_dlpo`` first, then a compile with
``use_mlflow=True`` and no autolog (experiment "dlpo-use_mlflow"), then one under
``mlflow.dspy.autolog(log_compiles=True)`` (experiment "dlpo-autolog").
``python mlflow_worker.py TRACKING_URI late-import``: autolog is enabled before ``dspy_dlpo`` is
imported (so autolog does not patch its compile); experiment "dlpo-late-import".
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))


def compile_once(uri: str, experiment: str, *, autolog: bool, use_mlflow: bool) -> None:
    import dspy
    import mlflow

    import dspy_dlpo
    from scripted import ScriptedOptimizer, exact_metric, reverse_examples, reverse_task_lm

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    if autolog:
        mlflow.dspy.autolog(log_compiles=True, log_traces=False)
    data = reverse_examples()
    optimizer = ScriptedOptimizer(rewrite=lambda prompt, n: "<instruction>Reverse the letters of the word.</instruction>"
                                  if n >= 4 else f"<instruction>Variant {n}.</instruction>")
    teleprompter = dspy_dlpo.DLPOTeleprompter(exact_metric, prompt_model=optimizer.lm(), max_steps=3, batch_size=4, candidates_per_step=1,
                                              progress=False, use_mlflow=use_mlflow)
    with dspy.context(lm=reverse_task_lm()):
        best = teleprompter.compile(dspy.Predict("question -> answer"), trainset=data[:8], valset=data[8:])
    print("score", best.score, "steps", best.detailed_results.steps, flush=True)


if __name__ == "__main__":
    tracking_uri, order = sys.argv[1], sys.argv[2]
    if order == "in-order":
        import dspy_dlpo  # noqa: F401  (before autolog: autolog patches the Teleprompter subclasses it sees)

        compile_once(tracking_uri, "dlpo-use_mlflow", autolog=False, use_mlflow=True)
        compile_once(tracking_uri, "dlpo-autolog", autolog=True, use_mlflow=False)
    else:
        import mlflow

        mlflow.set_tracking_uri(tracking_uri)
        mlflow.dspy.autolog(log_compiles=True, log_traces=False)
        compile_once(tracking_uri, "dlpo-late-import", autolog=False, use_mlflow=False)
