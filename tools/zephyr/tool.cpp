// The zephyr tool is zephyr::cli as it is: main() and the built-in models live in the library,
// so that a user's program linked with it is the same tool with more models.
