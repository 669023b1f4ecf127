# Installs the interop tests' node packages with `npm ci`, unless node_modules already
# holds what package-lock.json names (a stamp records the lock file it was installed from).
#   cmake -DNPM=/usr/bin/npm -DDIR=tests/interop -P npm_ci.cmake
if(NOT NPM OR NOT DIR)
  message(FATAL_ERROR "usage: cmake -DNPM=<npm> -DDIR=<dir with package-lock.json> -P npm_ci.cmake")
endif()

set(lock ${DIR}/package-lock.json)
set(stamp ${DIR}/node_modules/.mcptap-package-lock.sha256)
file(SHA256 ${lock} lock_hash)
if(EXISTS ${stamp} AND EXISTS ${DIR}/node_modules/@modelcontextprotocol/sdk/package.json)
  file(READ ${stamp} installed_hash)
  string(STRIP "${installed_hash}" installed_hash)
  if(installed_hash STREQUAL lock_hash)
    message(STATUS "node_modules is up to date with package-lock.json")
    return()
  endif()
endif()

execute_process(
  COMMAND ${NPM} ci --no-audit --no-fund
  WORKING_DIRECTORY ${DIR}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "npm ci failed in ${DIR} (${result})")
endif()
file(WRITE ${stamp} "${lock_hash}\n")
