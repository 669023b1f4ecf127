-- wrk script of the proxy benchmark: POST one ~300-byte JSON-RPC tools/call (the same body
-- ws_loadgen sends over WebSocket) on every keep-alive connection.
wrk.method = "POST"
wrk.path = "/mcp"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Session-Id"] = "bench-session"
wrk.body = '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search_documents","arguments":{"query":"quarterly revenue report for the northern region","limit":10,"filters":{"year":2025,"department":"finance","status":"published","region":"north"},"include_snippets":true,"sort":"relevance","cursor":null}}}'

-- One parseable line for proxy_bench.py: completed requests, errors, latency percentiles (us).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f errors=%d p50_us=%d p99_us=%d p999_us=%d\n",
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
