"""Settings, the layer catalogue, code tables and the error hierarchy.

The bottom layer of OneMap: everything else imports from here, this package imports
nothing of OneMap's.
"""
