"""pygeoapi providers over the store, and the store itself (``providers.store``)."""
