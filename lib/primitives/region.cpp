#include "region.h"

#include <fmt/format.h>

#include "primitive.h"
#include "zephyr/ops.h"

namespace zephyr::primitives {

Region region_of(const std::vector<Tensor>& stand_ins, const std::vector<Tensor>& results, const SourceLoc& where,
                 const std::unordered_set<const Node*>* made) {
  std::vector<NodePtr> roots;
  for (const Tensor& r : results) roots.push_back(r.node());
  const std::vector<const Node*> order = topological_order(roots);
  std::unordered_map<const Node*, bool> inside;
  for (const Tensor& s : stand_ins) inside[s.node().get()] = true;
  for (const Node* n : order) {
    if (inside.count(n)) continue;
    bool in = made && made->count(n);
    for (const NodePtr& input : n->inputs) in = in || (!made && inside.at(input.get()));
    inside[n] = in;
  }
  auto is_literal = [](const Node* n) { return n->op == OpKind::Constant || n->op == OpKind::Iota; };
  Region region;
  Replacements replace;
  for (const Tensor& s : stand_ins) region.body.arguments.push_back(s.node());
  auto capture = [&](const NodePtr& outside) {
    if (replace.count(outside.get()) || is_literal(outside.get())) return;
    replace[outside.get()] = stand_in(outside->dtype, outside->shape, fmt::format("captured{}", region.captured.size()), where).node();
    region.body.arguments.push_back(replace[outside.get()]);
    region.captured.push_back(outside);
  };
  for (const NodePtr& r : roots)
    if (!inside.at(r.get())) capture(r);
  for (const Node* n : order)
    if (inside.at(n))
      for (const NodePtr& input : n->inputs)
        if (!inside.at(input.get())) capture(input);
  Function f;
  f.results = roots;
  region.body.results = substitute(f, replace).results;
  return region;
}

Tensor region_node(OpKind op, std::vector<NodePtr> operands, Region region, Loop how, const std::string& name,
                   const SourceLoc& where) {
  operands.insert(operands.end(), region.captured.begin(), region.captured.end());
  how.body = std::move(region.body);
  how.body.name = name;
  Attrs attrs;
  attrs.loop = std::make_shared<Loop>(std::move(how));
  return build(op, std::move(operands), std::move(attrs), where);
}

Tensor stand_in(DType dtype, const Shape& shape, const std::string& name, const SourceLoc& where) {
  Attrs attrs;
  attrs.name = name;
  return Tensor(make_node(OpKind::Argument, dtype, shape, {}, std::move(attrs), where));
}

Tensor row(const Tensor& rows, int64_t r) {
  return reshape(slice(rows, 0, r, r + 1), Shape(rows.shape().begin() + 1, rows.shape().end()));
}

Tensor substituted(const Tensor& t, const Replacements& replace) {
  if (!t.defined()) return t;
  Function f;
  f.results = {t.node()};
  return Tensor(substitute(f, replace).results[0]);
}

Tensor pack(const std::vector<Tensor>& parts) {
  if (parts.size() == 1) return parts[0];
  std::vector<Tensor> flat;
  for (const Tensor& p : parts) flat.push_back(reshape(p, {-1}));
  return concat(flat, 0);
}

Tensor unpack(const Tensor& packed, const std::vector<Shape>& shapes, size_t i, const Shape& lead) {
  if (shapes.size() == 1) return packed;
  int64_t offset = 0;
  for (size_t p = 0; p < i; ++p) offset += numel(shapes[p]);
  Shape shape = lead;
  shape.insert(shape.end(), shapes[i].begin(), shapes[i].end());
  const int64_t axis = static_cast<int64_t>(lead.size());
  return reshape(slice(packed, axis, offset, offset + numel(shapes[i])), shape);
}

}  // namespace zephyr::primitives
