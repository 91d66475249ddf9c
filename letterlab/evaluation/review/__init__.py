"""A person's verdict on a run's mistakes: one core (queue, answers file, summary), two front ends."""
