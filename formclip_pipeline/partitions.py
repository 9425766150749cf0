import dagster as dg

from formclip_pipeline.catalog import exercise_names

exercise_partitions = dg.StaticPartitionsDefinition(exercise_names())

# One partition per dropped-in video, keyed by the first 16 hex digits of its SHA-256, so the same
# content is one partition whatever its name.
incoming_videos = dg.DynamicPartitionsDefinition(name="incoming_videos")
