"""The study: a sweep over crop lengths (sweep, its plan, jobs, budgets and recipes), its report, figures and the
section it adds to model cards, and the length it recommends for a downstream dataset."""
