"""Tile matrix sets, MVT encoding, tile caches and basemap rendering."""
