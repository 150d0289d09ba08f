# lit configuration for zephyr's IR tests, as MLIR projects do: `zephyr ir ... | FileCheck` on
# models, and `zephyr-opt --<pass> %s | FileCheck %s` on hand-written IR (passes/).
import os
import sys
import lit.formats

config.name = "zephyr"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".test", ".mlir", ".cpp"]  # .mlir: hand-written IR through zephyr-opt; .cpp: misuse/
config.test_source_root = os.path.join(config.zephyr_source_dir, "test", "lit")
config.test_exec_root = os.path.join(config.zephyr_binary_dir, "test", "lit")

tools = "/usr/lib/llvm-19/bin"
config.substitutions.append(("%python", sys.executable))
# misuse/: programs that must not compile, checked for the one-line message zephyr's headers give.
config.substitutions.append(("%cxx-syntax", f"{config.zephyr_cxx} -std=c++20 -fsyntax-only -fno-color-diagnostics "
                             f"-I{os.path.join(config.zephyr_source_dir, 'include')}"))
# %zephyr-opt first: %zephyr is a prefix of it.
config.substitutions.append(("%zephyr-opt", os.path.join(config.zephyr_binary_dir, "bin", "zephyr-opt")))
config.substitutions.append(("%zephyr", os.path.join(config.zephyr_binary_dir, "bin", "zephyr")))
config.substitutions.append(("FileCheck", os.path.join(tools, "FileCheck")))
config.substitutions.append(("mlir-opt", os.path.join(tools, "mlir-opt")))
config.substitutions.append(("not ", os.path.join(tools, "not") + " "))
