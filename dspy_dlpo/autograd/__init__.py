"""Textual autograd: loss, backward (gradient), update (rewrite) and the text utilities they share."""
