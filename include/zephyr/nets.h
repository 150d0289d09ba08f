// zephyr::nets: every layer, as a plain function f(Params, Tensor, hyper...).
#pragma once

#include "zephyr/compose.h"
#include "zephyr/nets/attention.h"
#include "zephyr/nets/conv.h"
#include "zephyr/nets/embed.h"
#include "zephyr/nets/linear.h"
#include "zephyr/nets/norm.h"
#include "zephyr/nets/recurrent.h"
