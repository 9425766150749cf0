"""The scoring group: the report of one video dropped into the watched folder."""
