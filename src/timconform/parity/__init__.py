"""Snapshots of a target, LocalStack style: record every exchange into a cassette, replay it elsewhere.

cassette.py writes and reads the JSON-lines file; observations.py keeps what each check saw so a replay can
judge it again; transformers.py names the volatile parts; diff.py lists divergences by JSON path; replay.py
sends a cassette's requests to another target; profile.py turns a cassette into a behaviour profile.
"""
