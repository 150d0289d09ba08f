// A shared library that registers no model: `zephyr --plugin` must reject it.
int zephyr_empty_plugin_marker = 0;
