// Rendering DOT with Graphviz's `dot` program, for `zephyr ir --format svg`.
#pragma once

#include <string>

namespace zephyr::cli {

/// `dot` rendered by Graphviz as SVG. Throws Error when `dot` is not installed (naming the
/// Debian package) or rejects the input (with its message).
std::string render_svg(const std::string& dot);

}  // namespace zephyr::cli
