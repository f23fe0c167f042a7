"""Method recipes: how limited data become network inputs and how outputs come back."""
