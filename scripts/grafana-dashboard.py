#!/usr/bin/env python3
# Writes config/grafana/driftwatch.json, the Grafana dashboard for driftwatch's Prometheus
# metrics. Edit the panels here and run it; tests/grafana_test.cc checks every metric and label
# the dashboard queries against what the daemon exports.
import json
import pathlib

DS = {"type": "prometheus", "uid": "${datasource}"}
EP = 'endpoint=~"$endpoint"'
panels = []
next_id = [1]

def target(expr, legend, ref):
    return {"datasource": DS, "refId": ref, "expr": expr, "legendFormat": legend,
            "range": True, "instant": False}

def panel(kind, title, desc, grid, exprs, unit=None, options=None, defaults=None):
    d = {"color": {"mode": "palette-classic"}}
    if unit: d["unit"] = unit
    if defaults: d.update(defaults)
    p = {"id": next_id[0], "type": kind, "title": title, "description": desc,
         "datasource": DS, "gridPos": dict(zip("hwxy", grid)),
         "targets": [target(e, l, chr(ord("A") + i)) for i, (e, l) in enumerate(exprs)],
         "fieldConfig": {"defaults": d, "overrides": []}}
    if options: p["options"] = options
    next_id[0] += 1
    panels.append(p)

def row(title, y):
    panels.append({"id": next_id[0], "type": "row", "title": title, "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    next_id[0] += 1

stat_opts = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
             "colorMode": "value", "graphMode": "none", "textMode": "auto",
             "justifyMode": "auto", "orientation": "auto"}
ts_legend = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
             "tooltip": {"mode": "multi", "sort": "desc"}}
stacked = {"custom": {"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40,
                      "drawStyle": "bars", "lineWidth": 1}}
lines = {"custom": {"drawStyle": "line", "lineWidth": 2, "fillOpacity": 0, "spanNulls": True}}

row("Overview", 0)
panel("stat", "Since the last run",
      "Time since the last probe run (driftwatch_last_run_timestamp_seconds). The default "
      "schedule runs every 6 hours: yellow after 7 hours, red after 13.",
      (4, 5, 0, 1), [("time() - driftwatch_last_run_timestamp_seconds", "")], "s", stat_opts,
      {"color": {"mode": "thresholds"},
       "thresholds": {"mode": "absolute", "steps": [
           {"color": "green", "value": None}, {"color": "yellow", "value": 25200},
           {"color": "red", "value": 46800}]}})
panel("stat", "Runs in the time range",
      "Probe runs finished by the daemon in the selected time range, by status (complete, "
      "incomplete). Counters start at zero when the daemon starts.",
      (4, 5, 5, 1),
      [('sum by (status) (increase(driftwatch_runs_total[$__range]))', "{{status}}")],
      "short", stat_opts, {"decimals": 0})
panel("stat", "Open incidents",
      "Incidents open now: events that are one change, grouped as the report groups them "
      "(driftwatch_incidents_open). `driftwatch events --open --incidents` lists them.",
      (4, 5, 10, 1), [('sum(driftwatch_incidents_open{%s})' % EP, "open")], "short", stat_opts,
      {"color": {"mode": "thresholds"},
       "thresholds": {"mode": "absolute", "steps": [
           {"color": "green", "value": None}, {"color": "orange", "value": 1}]}})
panel("stat", "Error share of samples",
      "Samples with the verdict error (no usable answer: timeouts, HTTP errors, empty replies) "
      "among all samples stored in the selected time range.",
      (4, 5, 15, 1),
      [('sum(increase(driftwatch_samples_total{%s,verdict="error"}[$__range])) / '
        'sum(increase(driftwatch_samples_total{%s}[$__range]))' % (EP, EP), "errors")],
      "percentunit", stat_opts,
      {"color": {"mode": "thresholds"}, "min": 0, "max": 1,
       "thresholds": {"mode": "absolute", "steps": [
           {"color": "green", "value": None}, {"color": "yellow", "value": 0.05},
           {"color": "red", "value": 0.2}]}})
panel("stat", "Version", "The driftwatch version the daemon runs (driftwatch_build_info).",
      (4, 4, 20, 1), [("driftwatch_build_info", "{{version}}")], None,
      dict(stat_opts, textMode="name", colorMode="none"))

row("Samples", 5)
panel("timeseries", "Samples by verdict",
      "Samples stored per window ($window), by verdict, for the selected endpoints.",
      (8, 12, 0, 6),
      [('sum by (verdict) (increase(driftwatch_samples_total{%s}[$window]))' % EP, "{{verdict}}")],
      "short", ts_legend, stacked)
panel("timeseries", "Samples by endpoint",
      "Samples stored per window ($window), by endpoint.",
      (8, 12, 12, 6),
      [('sum by (endpoint) (increase(driftwatch_samples_total{%s}[$window]))' % EP,
        "{{endpoint}}")],
      "short", ts_legend, stacked)
panel("timeseries", "Answered share of the last run",
      "Share of answers with the verdict answered among the last run's samples, per endpoint "
      "and probe category (driftwatch_verdict_ratio). A step down is what drift detection "
      "looks for.",
      (8, 12, 0, 14),
      [('driftwatch_verdict_ratio{%s,verdict="answered"}' % EP, "{{endpoint}} {{category}}")],
      "percentunit", ts_legend, dict(lines, min=0, max=1))
panel("timeseries", "Open incidents and events by endpoint",
      "Incidents open now by endpoint (driftwatch_incidents_open), and the drift events they "
      "group, by endpoint and event type (driftwatch_events_open).",
      (8, 12, 12, 14),
      [('sum by (endpoint) (driftwatch_incidents_open{%s})' % EP, "{{endpoint}} incidents"),
       ('sum by (endpoint, type) (driftwatch_events_open{%s})' % EP, "{{endpoint}} {{type}}")],
      "short", ts_legend, dict(lines, decimals=0))

row("Errors", 22)
panel("timeseries", "Errors",
      "Error samples per endpoint, incomplete runs, and judge requests that did not give a "
      "verdict, per window ($window).",
      (8, 12, 0, 23),
      [('sum by (endpoint) (increase(driftwatch_samples_total{%s,verdict="error"}[$window]))'
        % EP, "{{endpoint}} error samples"),
       ('sum(increase(driftwatch_runs_total{status="incomplete"}[$window]))', "incomplete runs"),
       ('sum by (outcome) (increase(driftwatch_judge_requests_total{outcome!="verdict"}'
        '[$window]))', "judge {{outcome}}")],
      "short", ts_legend, lines)
panel("timeseries", "Judge requests by outcome",
      "Requests to the [judge] per window ($window): verdict, unusable (a reply that is not "
      "the JSON asked for) or failed (no answer). Empty without a [judge].",
      (8, 12, 12, 23),
      [('sum by (outcome) (increase(driftwatch_judge_requests_total[$window]))', "{{outcome}}")],
      "short", ts_legend, stacked)

row("Run duration", 31)
panel("timeseries", "Run duration",
      "How long each probe run took, from its start to its last sample stored "
      "(driftwatch_last_run_duration_seconds); a run past [probes] deadline is cut there.",
      (8, 24, 0, 40),
      [("driftwatch_last_run_duration_seconds", "run")],
      "s", ts_legend, lines)
panel("timeseries", "Request latency by endpoint",
      "Median and 95th percentile of model request latency (the final attempt) over the "
      "window ($window), from the driftwatch_request_duration_seconds histogram. A run takes "
      "about its requests times this latency, divided by the endpoint's concurrency.",
      (8, 12, 0, 32),
      [('histogram_quantile(0.5, sum by (le, endpoint) '
        '(rate(driftwatch_request_duration_seconds_bucket{%s}[$window])))' % EP,
        "{{endpoint}} p50"),
       ('histogram_quantile(0.95, sum by (le, endpoint) '
        '(rate(driftwatch_request_duration_seconds_bucket{%s}[$window])))' % EP,
        "{{endpoint}} p95")],
      "s", ts_legend, lines)
panel("timeseries", "Mean request latency and runs per hour",
      "Mean request latency per endpoint (sum / count of the histogram) and probe runs "
      "finished per hour (driftwatch_runs_total).",
      (8, 12, 12, 32),
      [('sum by (endpoint) (rate(driftwatch_request_duration_seconds_sum{%s}[$window])) / '
        'sum by (endpoint) (rate(driftwatch_request_duration_seconds_count{%s}[$window]))'
        % (EP, EP), "{{endpoint}} mean latency"),
       ('sum by (status) (rate(driftwatch_runs_total[$window])) * 3600', "{{status}} runs/h")],
      "s", ts_legend,
      dict(lines))
# The runs/h series is a rate, not seconds: its own axis and unit.
panels[-1]["fieldConfig"]["overrides"] = [{
    "matcher": {"id": "byRegexp", "options": ".*runs/h$"},
    "properties": [{"id": "unit", "value": "short"},
                   {"id": "custom.axisPlacement", "value": "right"}]}]

dashboard = {
    "title": "driftwatch",
    "uid": "driftwatch",
    "description": "driftwatch, a censorship-drift monitor for language models: runs, samples by "
                   "verdict and endpoint, open drift events, errors and request latency, from "
                   "the daemon's Prometheus metrics ([metrics] listen).",
    "tags": ["driftwatch"],
    "editable": True,
    "graphTooltip": 1,
    "schemaVersion": 39,
    "version": 1,
    "refresh": "5m",
    "time": {"from": "now-7d", "to": "now"},
    "timepicker": {},
    "timezone": "",
    "fiscalYearStartMonth": 0,
    "liveNow": False,
    "links": [],
    "annotations": {"list": [{
        "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts", "type": "dashboard"}]},
    "templating": {"list": [
        {"name": "datasource", "label": "Prometheus", "type": "datasource",
         "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "",
         "includeAll": False, "multi": False, "options": [], "skipUrlSync": False},
        {"name": "endpoint", "label": "Endpoint", "type": "query", "datasource": DS,
         "definition": "label_values(driftwatch_verdict_ratio, endpoint)",
         "query": {"query": "label_values(driftwatch_verdict_ratio, endpoint)",
                   "refId": "PrometheusVariableQueryEditor-VariableQuery"},
         "current": {}, "hide": 0, "includeAll": True, "allValue": ".*", "multi": True,
         "options": [], "refresh": 2, "regex": "", "sort": 1, "skipUrlSync": False},
        {"name": "window", "label": "Window", "type": "interval",
         "query": "6h,1d,7d", "auto": False, "auto_count": 30, "auto_min": "10s",
         "current": {"selected": True, "text": "1d", "value": "1d"},
         "options": [{"selected": False, "text": "6h", "value": "6h"},
                     {"selected": True, "text": "1d", "value": "1d"},
                     {"selected": False, "text": "7d", "value": "7d"}],
         "hide": 0, "refresh": 2, "skipUrlSync": False}]},
    "panels": panels,
}
out = pathlib.Path(__file__).resolve().parent.parent / "config" / "grafana" / "driftwatch.json"
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
