// Filled in by the TLS implementation.
#include "proxy/openssl_ptr.h"
