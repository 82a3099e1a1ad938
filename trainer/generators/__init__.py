"""Generators: text (and images) produced from a trained KG model's entity vectors.

They are trained after, and from, a KG model; their checkpoints sit beside the model's
(``<home>/models/<model>/generators/<kind>/<stamp>/``) and record which model checkpoint
they were trained on. What they produce is never a fact or a training example.
"""
