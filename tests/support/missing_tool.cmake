# A test whose tool is not installed: it fails and says which tool and how to get it.
#   cmake -DTOOL=node -DHINT="apt-get install nodejs" -P missing_tool.cmake
message(FATAL_ERROR "${TOOL} was not found when the build was configured: ${HINT} "
                    "(then configure again: scripts/ do it on every run)")
