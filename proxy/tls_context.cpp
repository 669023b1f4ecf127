// Filled in by the TLS implementation.
#include "proxy/tls_context.h"
