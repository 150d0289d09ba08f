// zephyr: neural networks as plain C++ functions, compiled through MLIR.
#pragma once

#include "zephyr/array.h"
#include "zephyr/compiler.h"
#include "zephyr/dtype.h"
#include "zephyr/error.h"
#include "zephyr/grad.h"
#include "zephyr/init.h"
#include "zephyr/jit.h"
#include "zephyr/nets/linear.h"
#include "zephyr/ops.h"
#include "zephyr/param_tree.h"
#include "zephyr/params.h"
#include "zephyr/random.h"
#include "zephyr/tensor.h"
#include "zephyr/tensor_tree.h"
#include "zephyr/trace.h"
