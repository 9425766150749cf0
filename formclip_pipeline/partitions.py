import dagster as dg

from formclip_pipeline.catalog import exercise_names

exercise_partitions = dg.StaticPartitionsDefinition(exercise_names())
