// An MCP client built on the official TypeScript SDK, running one fixed conversation with
// server.mjs over an HTTP transport and printing what it saw as one JSON document.
//
//   node client.mjs --transport streamable-json|streamable-sse|legacy-sse --url URL
//
// URL is the server's (or mcptap's) base, http://host:port or https://host:port (a test CA
// is trusted through NODE_EXTRA_CA_CERTS); the client adds /mcp or /sse.
// The document is deterministic except "session_id" (chosen by the server) and
// "transport_errors": a direct run and a run through mcptap compare equal without them.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import { runMain } from './run_main.mjs';

const TRANSPORTS = ['streamable-json', 'streamable-sse', 'legacy-sse'];

// Secrets the conversation carries: in tool arguments (a key name that redaction knows)
// and in an Authorization header on every HTTP request. The test checks that none of them,
// nor the token the server derives, reaches the capture table.
const SECRETS = {
  api_key: 'sk-interop-7d1e0c5a9b3f4e28a6c1d0f9e8b7a6c5',
  bearer: 'interop-bearer-41f2a9c7e3d85b06',
};
// Large enough to span many reads and chunks (and, in SSE, one event of that size), with
// multi-byte UTF-8 so that byte and character counts differ.
const LARGE_TEXT = 'mcptap durchläuft → '.repeat(12000);

function parseArgs(argv) {
  const args = { transport: undefined, url: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--transport') args.transport = value;
    else if (flag === '--url') args.url = value;
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!TRANSPORTS.includes(args.transport)) {
    throw new Error(`--transport must be one of ${TRANSPORTS.join(', ')}`);
  }
  if (!args.url) throw new Error('--url is required');
  return args;
}

function makeTransport(kind, base) {
  const requestInit = { headers: { Authorization: `Bearer ${SECRETS.bearer}` } };
  if (kind === 'legacy-sse') {
    return new SSEClientTransport(new URL('/sse', base), { requestInit });
  }
  return new StreamableHTTPClientTransport(new URL('/mcp', base), {
    requestInit,
    // A dropped GET stream would be retried; none is expected, keep a retry visible but short.
    reconnectionOptions: {
      initialReconnectionDelay: 100,
      maxReconnectionDelay: 500,
      reconnectionDelayGrowFactor: 1.5,
      maxRetries: 2,
    },
  });
}

function errorSummary(error) {
  return { code: error?.code ?? null, message: String(error?.message ?? error) };
}

async function conversation(kind, base) {
  const transport = makeTransport(kind, base);
  const transportErrors = [];
  const client = new Client(
    { name: 'mcptap-interop-client', version: '1.0.0' },
    { capabilities: { roots: { listChanged: false } } },
  );
  client.setRequestHandler(ListRootsRequestSchema, async () => ({
    roots: [{ uri: 'file:///srv/interop', name: 'interop' }],
  }));
  client.onerror = (error) => transportErrors.push(String(error?.message ?? error));

  const out = { transport: kind };
  await client.connect(transport);
  out.server = client.getServerVersion();
  out.server_capabilities = client.getServerCapabilities();
  out.instructions = client.getInstructions();
  out.protocol_version = transport.protocolVersion ?? null;
  out.session_id =
    kind === 'legacy-sse' ? transport._endpoint?.searchParams.get('sessionId') ?? null : transport.sessionId ?? null;

  out.tools = await client.listTools();
  out.echo = await client.callTool({ name: 'echo', arguments: { text: 'hello through the tap' } });
  const large = await client.callTool({ name: 'echo', arguments: { text: LARGE_TEXT } });
  out.echo_large = {
    same_text: large.content?.[0]?.text === LARGE_TEXT,
    characters: large.content?.[0]?.text?.length ?? null,
  };

  const progress = [];
  const slow = await client.callTool({ name: 'slow_progress', arguments: { label: 'crawl' } }, undefined, {
    onprogress: (p) => progress.push(p),
  });
  out.slow_progress = { result: slow, progress };

  out.fail = await client.callTool({ name: 'fail', arguments: { reason: 'as asked' } });
  out.store_secret = await client.callTool({
    name: 'store_secret',
    arguments: { user: 'ann', api_key: SECRETS.api_key },
  });
  out.list_client_roots = await client.callTool({ name: 'list_client_roots', arguments: {} });

  // The server offers no prompts: a JSON-RPC error (Method not found), not a tool result.
  try {
    await client.listPrompts();
    out.method_not_found = null;
  } catch (error) {
    out.method_not_found = errorSummary(error);
  }

  if (kind !== 'legacy-sse') {
    await transport.terminateSession(); // DELETE with Mcp-Session-Id
    out.terminated = transport.sessionId === undefined;
  } else {
    out.terminated = null; // 2024-11-05 has no termination: closing the stream ends it
  }
  await client.close();

  out.secrets = { ...SECRETS, session_token: out.store_secret.structuredContent?.session_token ?? null };
  out.transport_errors = transportErrors;
  return out;
}

runMain('client', () => {
  const args = parseArgs(process.argv.slice(2));
  return conversation(args.transport, args.url);
});
