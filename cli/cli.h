/* cli.h: what the wrapper's source files share: exit statuses and the subcommands. */
#ifndef TORWRAP_CLI_H
#define TORWRAP_CLI_H

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

#endif
