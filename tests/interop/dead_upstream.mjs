// Two HTTP clients against a server that cannot be reached: a plain `fetch` POST and the
// official MCP SDK client connecting over Streamable HTTP. Prints, as one JSON document,
// how each attempt ended and how long it took.
//
//   node dead_upstream.mjs --url URL [--give-up-ms MS]
//
// URL is the server's (or mcptap's) base, http://host:port; /mcp is added. An attempt still
// pending after MS milliseconds (default 15000) is reported as not settled: a promise that
// never settles would otherwise let node exit without a word (status 13).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { runMain } from './run_main.mjs';

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'mcptap-dead-upstream', version: '1.0.0' },
  },
};

function parseArgs(argv) {
  const args = { url: undefined, giveUpMs: 15000 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--url') args.url = value;
    else if (flag === '--give-up-ms') args.giveUpMs = Number(value);
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!args.url) throw new Error('--url is required');
  return args;
}

// The error and its causes, outermost first: fetch puts the socket's error in `cause`, and
// the SDK may wrap fetch's error again.
function errorChain(error) {
  const chain = [];
  for (let e = error; e && chain.length < 5; e = e.cause) {
    chain.push({ name: e.name ?? null, message: String(e.message ?? e), code: e.code ?? null });
  }
  return chain;
}

// Runs `attempt` with a deadline; the pending timer also keeps node's loop alive meanwhile.
async function timed(attempt, giveUpMs) {
  const began = performance.now();
  let timer;
  const gaveUp = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ settled: false }), giveUpMs);
  });
  const settled = attempt().then(
    (value) => ({ settled: true, ok: true, value }),
    (error) => ({ settled: true, ok: false, errors: errorChain(error) }),
  );
  const outcome = await Promise.race([settled, gaveUp]);
  clearTimeout(timer);
  return { ...outcome, elapsed_ms: Math.round(performance.now() - began) };
}

async function plainFetch(endpoint) {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify(INITIALIZE),
  });
  return { status: response.status };
}

async function sdkConnect(endpoint) {
  const client = new Client({ name: 'mcptap-dead-upstream', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(endpoint));
  await client.close();
  return { connected: true };
}

runMain('dead_upstream', async () => {
  const args = parseArgs(process.argv.slice(2));
  const endpoint = new URL('/mcp', args.url);
  return {
    fetch: await timed(() => plainFetch(endpoint), args.giveUpMs),
    sdk: await timed(() => sdkConnect(endpoint), args.giveUpMs),
  };
});
