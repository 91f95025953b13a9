"""dspy-dlpo: DLPO prompt optimization as a DSPy teleprompter."""
