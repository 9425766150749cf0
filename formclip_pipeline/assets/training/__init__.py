"""The training group, one module per asset: raw videos to evaluation metrics, partitioned by exercise."""
