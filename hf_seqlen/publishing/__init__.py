"""What an output folder publishes (release: model, costs and card) and how it reaches the Hugging Face Hub (push)."""
