// VacCnn pages: the two DOM helpers every page module uses.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** A new element: props set as properties where the element has them (class, dataset and attributes otherwise), then children. */
export const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
        if (k === "class") node.className = v;
        else if (k === "dataset") Object.assign(node.dataset, v);
        else if (k in node) node[k] = v;
        else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
};
