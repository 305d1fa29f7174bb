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
from ..views import new_figure
from .model import PROFILES, ComposeService, StackModel

__all__ = ["stack_figure", "stack_mermaid"]


def _node_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def stack_mermaid(model: StackModel, profiles: Sequence[str] = PROFILES) -> str:
    """A Mermaid flowchart of the chosen profiles' services, networks and ports."""
    services = model.for_profiles(profiles)
    names = {svc.name for svc in services}
    network = model.outward_networks[0] if model.outward_networks else "default"
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
            if network not in svc.networks:  # only on internal networks: say which
                label += f"<br/><small>only on {', '.join(svc.networks)} (internal)</small>"
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


# Room for a label between columns, and between profiles.
_COLUMN = 1.6
_PROFILE_GAP = 2.4


def stack_figure(model: StackModel, profiles: Sequence[str] = PROFILES) -> Any:
    """A plotly figure of the same graph: a block per profile, callers left of what they use.

    Within a profile, a service sits one column right of the services that depend on it,
    so every arrow of `depends_on` points right; a published port is written under its
    service, which gets a blue ring.
    """
    go = require("plotly.graph_objects", "notebook views")
    services = model.for_profiles(profiles)
    position, columns_of = _layout(model, profiles)
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for svc in services:
        for dep in svc.depends_on:
            if dep in position:
                (x0, y0), (x1, y1) = position[svc.name], position[dep]
                edge_x += [x0, x1, None]
                edge_y += [y0, y1, None]
    traces = [
        go.Scatter(
            x=edge_x,
            y=edge_y,
            mode="lines",
            hoverinfo="skip",
            name="depends on",
            line={"color": "#9e9e9e", "width": 1},
        )
    ]
    for label, stores, colour in (("service", False, "#2e7d32"), ("data store", True, "#6a1b9a")):
        chosen = [svc for svc in services if _is_store(svc.name) == stores]
        traces.append(
            go.Scatter(
                x=[position[svc.name][0] for svc in chosen],
                y=[position[svc.name][1] for svc in chosen],
                mode="markers+text",
                text=[_node_text(svc) for svc in chosen],
                # neighbouring columns label above and below, so their labels never collide
                textposition=[
                    "top center" if columns_of[svc.name] % 2 else "bottom center" for svc in chosen
                ],
                hovertext=[svc.image or "" for svc in chosen],
                hoverinfo="text",
                marker={
                    "size": 16,
                    "color": colour,
                    "line": {
                        "width": [3 if svc.ports else 0 for svc in chosen],
                        "color": "#1565c0",
                    },
                },
                name=label,
                cliponaxis=False,
            )
        )
    figure = new_figure(*traces)
    network = model.outward_networks[0] if model.outward_networks else "default"
    columns = [p for p in profiles if any(p in svc.profiles for svc in services)]
    starts = {p: min(position[s.name][0] for s in services if p in s.profiles) for p in columns}
    rows = max((-y for _x, y in position.values()), default=0.0)
    figure.update_layout(
        title=f"Stack on network '{network}': {', '.join(columns)} (blue ring: published port)",
        xaxis={
            "tickvals": [starts[p] for p in columns],
            "ticktext": columns,
            "showgrid": False,
            "zeroline": False,
            "range": [-1.0, max((x for x, _y in position.values()), default=0.0) + 1.2],
        },
        yaxis={"visible": False, "range": [-rows - 0.8, 0.8]},
        height=200 + 90 * int(rows + 1),
        showlegend=True,
    )
    return figure


def _node_text(svc: ComposeService) -> str:
    ports = "<br>".join(f"{port.host_ip}:{port.host_port}" for port in svc.ports)
    return f"{svc.name}<br>{ports}" if ports else svc.name


def _layout(
    model: StackModel, profiles: Sequence[str]
) -> tuple[dict[str, tuple[float, float]], dict[str, int]]:
    """x: the profile's block plus the service's depth (callers left); y: its row.

    Also each service's column number, counted across the whole figure.
    """
    services = model.for_profiles(profiles)
    names = {svc.name for svc in services}
    callers: dict[str, list[str]] = {svc.name: [] for svc in services}
    for svc in services:
        for dep in svc.depends_on:
            if dep in names:
                callers[dep].append(svc.name)
    depth: dict[str, int] = {}

    def level(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in depth:
            above = [level(c, seen | {name}) for c in callers[name] if c not in seen]
            depth[name] = 1 + max(above) if above else 0
        return depth[name]

    position: dict[str, tuple[float, float]] = {}
    columns_of: dict[str, int] = {}
    deps = {svc.name: [d for d in svc.depends_on if d in names] for svc in services}
    start, counted = 0.0, 0
    for profile in profiles:
        members = [svc.name for svc in services if profile in svc.profiles]
        if not members:
            continue
        widest = 0
        for column in sorted({level(name) for name in members}):
            here = [name for name in members if level(name) == column]
            if column == 0:  # the busiest callers first, so their lines fan out downwards
                here.sort(key=lambda name: (-len(deps[name]), name))
            else:  # next to the rows of the services that call them
                here.sort(key=lambda name: (_mean_row(position, callers[name]), name))
            for row, name in enumerate(here):
                position[name] = (start + column * _COLUMN, -float(row))
                columns_of[name] = counted + column
            widest = max(widest, column)
        start += widest * _COLUMN + _PROFILE_GAP
        counted += widest + 1
    return position, columns_of


def _mean_row(position: dict[str, tuple[float, float]], names: Sequence[str]) -> float:
    rows = [-position[name][1] for name in names if name in position]
    return sum(rows) / len(rows) if rows else 0.0
