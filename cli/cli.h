/* cli.h: what the wrapper's source files share: exit statuses and the subcommands. */
#ifndef TORWRAP_CLI_H
#define TORWRAP_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/tw.h"

#define CLI_EXIT_USAGE 2
#define CLI_EXIT_CONFIG 78 /* sysexits' EX_CONFIG */

/* `torwrap check`: one status per failing step, so a healthcheck's exit code says where it broke. */
#define CLI_EXIT_RESOLVE 10 /* the proxy's name does not resolve */
#define CLI_EXIT_CONNECT 11 /* the proxy does not accept a connection */
#define CLI_EXIT_GREETING 12 /* no SOCKS5 greeting: not a SOCKS5 proxy, or a method refused */
#define CLI_EXIT_STREAM 13 /* the stream to --target failed (Tor's answer is printed) */

/* `torwrap check ...` (ARGV[0] is "check"). Returns the exit status. */
int tw_check_main(int argc, char **argv);

/* `torwrap explain ...` (ARGV[0] is "explain"). Returns the exit status. */
int tw_explain_main(int argc, char **argv);

/* The variable an option with a value stands for ("--policy", "--proxy", "--mode", "--isolation", alone or
 * "--opt=value"), or NULL: options only set the variables the library reads, so every command sees one
 * configuration. */
const char *cli_option_var(const char *arg);

/* Splits "host:port" or "[v6]:port" into HOST (brackets taken off, otherwise as written) and PORT (1-65535).
 * With PORT_OPTIONAL, "host" and a bare "v6" are taken too, with PORT 0. Returns 0 or -EINVAL. */
int cli_split_hostport(const char *s, bool port_optional, char host[TW_NAME_MAX], uint16_t *port);

/* `torwrap audit ...` (ARGV[0] is "audit"): the wrapper, and a report of every destination used. Returns the
 * exit status. */
int tw_audit_main(int argc, char **argv);

/* The wrapper itself (`torwrap [OPTIONS] [--] CMD...`), in two steps that `torwrap audit` shares with it. */

/* cli_wrap_options()'s answer when an option did all there was to do (--help, --version): exit 0. */
#define CLI_DONE (-1)

/* Reads the options of ARGV (ARGV[0] is the program's name) into the environment the library reads and sets
 * *CMD to the index of the command. Returns 0, CLI_DONE, or an exit status after saying why. */
int cli_wrap_options(int argc, char **argv, int *cmd);

/* Whether the wrapper option ARG takes the next argument as its value ("--proxy", not "--proxy=x"). */
bool cli_wrap_option_takes_value(const char *arg);

/* Runs CMD (CMD[0] is looked up in PATH) as the wrapper does: returns its exit status, or an exit status of
 * the wrapper's after saying why. May not return (exec). */
int cli_wrap_run(char **cmd);

#endif
