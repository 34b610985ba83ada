"""Offline evaluation and reporting: metrics, faithfulness, factor probes, the baselines,
pictures and the HTML report. Serving never imports it."""
