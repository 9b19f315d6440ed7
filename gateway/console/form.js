// A form generated from a pipeline's `input_schema` (objects of strings, numbers, booleans,
// enums, and arrays of such objects), or a JSON editor where a pipeline declares none.

import { h, field } from "./dom.js";
import { call } from "./api.js";

/** Returns `{element, value()}`; `value()` throws an Error naming the bad field. */
export function inputForm(schema) {
  if (!schema || schema.type !== "object" || !schema.properties) return jsonEditor();
  return objectForm(schema, "input");
}

function jsonEditor() {
  const area = h("textarea", { rows: 8, class: "code", "data-field": "input-json", spellcheck: "false" }, "{}");
  return {
    element: field("Input (JSON)", area, "This pipeline declares no input form; write its input as JSON."),
    value() {
      try {
        return JSON.parse(area.value || "{}");
      } catch (error) {
        throw new Error(`input: not JSON (${error.message})`);
      }
    },
  };
}

function objectForm(schema, path) {
  const required = new Set(schema.required || []);
  const parts = Object.entries(schema.properties).map(([name, property]) => [name, control(property, `${path}.${name}`, required.has(name), name)]);
  return {
    element: h("div", { class: "object" }, parts.map(([, part]) => part.element)),
    value() {
      const value = {};
      for (const [name, part] of parts) {
        const item = part.value();
        if (item !== undefined) value[name] = item;
      }
      return value;
    },
  };
}

function control(property, path, required, name) {
  const title = `${property.title || name}${required ? " (required)" : ""}`;
  const hint = property.description;
  if (property.enum) {
    const select = h("select", { "data-field": path, required }, property.enum.map((option) => h("option", { value: option }, option)));
    return { element: field(title, select, hint), value: () => select.value };
  }
  if (property.type === "boolean") {
    const box = h("input", { type: "checkbox", "data-field": path, checked: property.default === true });
    return { element: h("div", { class: "field check" }, box, h("label", { for: (box.id = `f-${path}`) }, title)), value: () => box.checked };
  }
  if (property.type === "integer" || property.type === "number") {
    const input = h("input", { type: "number", "data-field": path, min: property.minimum, max: property.maximum, step: property.type === "integer" ? 1 : "any" });
    return {
      element: field(title, input, hint),
      value: () => (input.value === "" ? undefined : Number(input.value)),
    };
  }
  if (property.type === "array" && property.items?.type === "object") return arrayForm(property, path, title);
  if (property["x-troupe-upload"]) return uploadControl(path, title);
  const input = property["x-troupe-multiline"]
    ? h("textarea", { rows: 3, "data-field": path, required, maxlength: property.maxLength })
    : h("input", { type: "text", "data-field": path, required, maxlength: property.maxLength });
  return {
    element: field(title, input, hint),
    value() {
      if (!input.value && required) throw new Error(`${path}: required`);
      return input.value === "" ? undefined : input.value;
    },
  };
}

function arrayForm(property, path, title) {
  const items = [];
  const list = h("div", { class: "items" });
  const add = () => {
    const item = objectForm(property.items, `${path}[${items.length}]`);
    const remove = h("button", { type: "button", class: "link", on: { click: () => { items.splice(items.indexOf(item), 1); box.remove(); } } }, "Remove");
    const box = h("fieldset", { class: "item" }, h("legend", {}, `${property.items.title || "Item"} ${items.length + 1}`), item.element, remove);
    items.push(item);
    list.append(box);
  };
  add();
  return {
    element: h("fieldset", { class: "array", "data-field": path }, h("legend", {}, title), list,
      h("button", { type: "button", class: "secondary", on: { click: add } }, `Add ${(property.items.title || "item").toLowerCase()}`)),
    value: () => items.map((item) => item.value()),
  };
}

/** A file chooser that uploads at once and stands for the uploaded file's id. */
function uploadControl(path, title) {
  const input = h("input", { type: "file", accept: "application/pdf,.pdf", "data-field": path });
  const state = h("small", { role: "status" }, "");
  let id;
  input.addEventListener("change", async () => {
    id = undefined;
    const file = input.files[0];
    if (!file) return;
    state.textContent = `Uploading ${file.name}…`;
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      const uploaded = await call("POST", "/api/v1/files", form);
      id = uploaded.id;
      state.textContent = `Uploaded ${uploaded.name} (${uploaded.size} bytes)`;
      state.dataset.fileId = id;
    } catch (error) {
      state.textContent = `Upload refused: ${error.message}`;
    }
  });
  return { element: field(title, input, null).appendChild(state).parentNode, value: () => id };
}
