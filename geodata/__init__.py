"""Package data: the committed WGS-84 extracts and the demo scenario (``planner.geodata``).

Installed as the ``planner.geodata`` package so that a wheel carries it;
read with ``importlib.resources`` (``planner.geo.admin.geodata_dir``). See
README.md beside this file for sources, licences and how ``build.py``
rebuilds the extracts.
"""
