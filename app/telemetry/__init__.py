"""What Steward tells about itself: Prometheus metrics (`metrics`) and its log format,
with every logged value made safe (`logs`).

May import: desired_state (secret masking), errors.
"""
