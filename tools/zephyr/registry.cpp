#include "zephyr/registry.h"

namespace zephyr {

std::vector<RegisteredModel>& model_registry() {
  static std::vector<RegisteredModel> models;  // function-local: safe from static-init order
  return models;
}

bool register_model(RegisteredModel model) {
  for (const RegisteredModel& m : model_registry())
    if (m.name == model.name) throw Error(fmt::format("[ZEPHYR_MODEL] a model named '{}' is already registered", m.name));
  model_registry().push_back(std::move(model));
  return true;
}

const RegisteredModel& find_registered_model(const std::string& name) {
  std::vector<std::string> names;
  for (const RegisteredModel& m : model_registry()) {
    if (m.name == name) return m;
    names.push_back(m.name);
  }
  throw Error(fmt::format("unknown model '{}' (known: {})", name, fmt::join(names, ", ")));
}

}  // namespace zephyr
