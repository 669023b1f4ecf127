// Filled in by the TLS implementation.
#include "proxy/cert_minter.h"
