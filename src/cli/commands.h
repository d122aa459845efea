/* commands.h — the localm subcommands. Each lives in src/cli/cmd_NAME.c as
 * `int lm_cmd_NAME(int argc, char **argv)` (argv[0] is the command name) and
 * returns the process exit status. Declared weak so that main.c lists only
 * the commands that are built in. */
#ifndef LM_CLI_COMMANDS_H
#define LM_CLI_COMMANDS_H

#define LM_CMD(name) int lm_cmd_##name(int argc, char **argv) __attribute__((weak));
LM_CMD(run)
LM_CMD(chat)
LM_CMD(serve)
LM_CMD(score)
LM_CMD(bench)
LM_CMD(show)
LM_CMD(tokenize)
LM_CMD(detokenize)
LM_CMD(template)
LM_CMD(backends)
LM_CMD(ls)
LM_CMD(pull)
LM_CMD(rm)
#undef LM_CMD
#endif
