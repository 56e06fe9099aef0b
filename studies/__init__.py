"""MOS studies: stimuli, raters, assignments, ratings, Mechanical Turk HITs and results."""
