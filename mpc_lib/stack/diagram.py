"""The architecture, drawn from the compose model: Mermaid for the README, a figure for notebooks.

Both come from `StackModel` (so they cannot drift from compose.yaml): one box per
profile inside the stack's network, one node per service with its image, an arrow per
`depends_on`, and the host's loopback ports pointing at the services that publish them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..extras import require
from .model import PROFILES, StackModel

__all__ = ["stack_figure", "stack_mermaid"]


def _node_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def stack_mermaid(model: StackModel, profiles: Sequence[str] = PROFILES) -> str:
    """A Mermaid flowchart of the chosen profiles' services, networks and ports."""
    services = model.for_profiles(profiles)
    names = {svc.name for svc in services}
    network = model.networks[0] if len(model.networks) == 1 else "default"
    lines = ["flowchart LR", '    host(["this machine (127.0.0.1)"])']
    lines.append(f'    subgraph net["network: {network}"]')
    for profile in profiles:
        members = [svc for svc in services if profile in svc.profiles]
        if not members:
            continue
        lines.append(f'        subgraph {_node_id("p_" + profile)}["profile: {profile}"]')
        for svc in members:
            image = svc.image or "(built)"
            label = f"{svc.name}<br/><small>{image}</small>"
            shape = f'[("{label}")]' if _is_store(svc.name) else f'["{label}"]'
            lines.append(f"            {_node_id(svc.name)}{shape}")
        lines.append("        end")
    lines.append("    end")
    for svc in services:
        for port in svc.ports:
            lines.append(f'    host -- "{port.host_ip}:{port.host_port}" --> {_node_id(svc.name)}')
    for svc in services:
        for dep in svc.depends_on:
            if dep in names:
                lines.append(f"    {_node_id(svc.name)} --> {_node_id(dep)}")
    return "\n".join(lines) + "\n"


def _is_store(name: str) -> bool:
    return name.endswith(("-db", "-redis", "-weaviate"))


def stack_figure(model: StackModel, profiles: Sequence[str] = PROFILES) -> Any:
    """A plotly figure of the same graph: a column per profile, ports on the left."""
    go = require("plotly.graph_objects", "notebook views")
    services = model.for_profiles(profiles)
    columns = [p for p in profiles if any(p in svc.profiles for svc in services)]
    position: dict[str, tuple[float, float]] = {}
    for x, profile in enumerate(columns, start=1):
        members = [svc for svc in services if profile in svc.profiles]
        for y, svc in enumerate(members):
            position.setdefault(svc.name, (float(x), -float(y)))
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for svc in services:
        for dep in svc.depends_on:
            if dep in position and svc.name in position:
                (x0, y0), (x1, y1) = position[svc.name], position[dep]
                edge_x += [x0, x1, None]
                edge_y += [y0, y1, None]
    ports = [(svc.name, port) for svc in services for port in svc.ports]
    port_x: list[float] = []
    port_y: list[float] = []
    port_text: list[str] = []
    for svc_name, port in ports:
        px, py = position[svc_name]
        edge_x += [0.0, px, None]
        edge_y += [py, py, None]
        port_x.append(0.0)
        port_y.append(py)
        port_text.append(f"{port.host_ip}:{port.host_port}")
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=edge_x,
            y=edge_y,
            mode="lines",
            hoverinfo="skip",
            line={"color": "#9e9e9e", "width": 1},
            name="depends on / port",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=port_x,
            y=port_y,
            mode="markers+text",
            text=port_text,
            textposition="middle left",
            marker={"symbol": "square", "size": 10, "color": "#1565c0"},
            name="published port",
        )
    )
    names = list(position)
    figure.add_trace(
        go.Scatter(
            x=[position[n][0] for n in names],
            y=[position[n][1] for n in names],
            mode="markers+text",
            text=names,
            textposition="top center",
            hovertext=[model.services[n].image or "" for n in names],
            hoverinfo="text",
            marker={"size": 16, "color": ["#6a1b9a" if _is_store(n) else "#2e7d32" for n in names]},
            name="service",
        )
    )
    network = model.networks[0] if model.networks else "default"
    figure.update_layout(
        title=f"Stack on network '{network}': {', '.join(columns)}",
        xaxis={
            "tickvals": list(range(len(columns) + 1)),
            "ticktext": ["host", *columns],
            "range": [-0.8, len(columns) + 0.6],
            "showgrid": False,
        },
        yaxis={"visible": False},
        height=160 + 60 * max((sum(p in s.profiles for s in services) for p in columns), default=1),
        showlegend=True,
    )
    return figure
