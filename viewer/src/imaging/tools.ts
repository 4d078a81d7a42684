/**
 * Tool groups of one study viewer: which Cornerstone tool answers which mouse button. The left
 * button runs the tool chosen in the toolbar (window/level by default); the middle button pans,
 * the right button zooms, the wheel scrolls slices, whatever the left button does.
 */
import { Enums as ToolEnums, ToolGroupManager, type Types as ToolTypes } from '@cornerstonejs/tools';

const { MouseBindings } = ToolEnums;

/** Tools the toolbar can put on the left button (Cornerstone tool names). */
export const PRIMARY_TOOLS = [
  'WindowLevel',
  'Pan',
  'Zoom',
  'PlanarRotate',
  'Length',
  'Angle',
  'EllipticalROI',
  'RectangleROI',
  'Probe',
] as const;
export type PrimaryTool = (typeof PRIMARY_TOOLS)[number];

export const ANNOTATION_TOOLS: readonly PrimaryTool[] = [
  'Length',
  'Angle',
  'EllipticalROI',
  'RectangleROI',
  'Probe',
];

export function createToolGroup(id: string): ToolTypes.IToolGroup {
  ToolGroupManager.destroyToolGroup(id);
  const group = ToolGroupManager.createToolGroup(id);
  if (!group) throw new Error(`could not create tool group ${id}`);
  for (const name of PRIMARY_TOOLS) group.addTool(name);
  group.addTool('StackScroll');
  group.setToolActive('StackScroll', { bindings: [{ mouseButton: MouseBindings.Wheel }] });
  group.setToolActive('Pan', { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
  group.setToolActive('Zoom', { bindings: [{ mouseButton: MouseBindings.Secondary }] });
  // Measurements stay visible and editable whichever tool is on the left button.
  for (const name of ANNOTATION_TOOLS) group.setToolPassive(name);
  setPrimaryTool(group, 'WindowLevel');
  return group;
}

export function setPrimaryTool(group: ToolTypes.IToolGroup, tool: PrimaryTool): void {
  const current = group.getActivePrimaryMouseButtonTool();
  if (current === tool) return;
  if (current) {
    // Pan and Zoom keep their own buttons; annotation tools stay passive (editable); others go off.
    if (current === 'Pan')
      group.setToolActive('Pan', { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
    else if (current === 'Zoom')
      group.setToolActive('Zoom', { bindings: [{ mouseButton: MouseBindings.Secondary }] });
    else if ((ANNOTATION_TOOLS as readonly string[]).includes(current)) group.setToolPassive(current);
    else group.setToolDisabled(current);
  }
  const extra =
    tool === 'Pan'
      ? [{ mouseButton: MouseBindings.Auxiliary }]
      : tool === 'Zoom'
        ? [{ mouseButton: MouseBindings.Secondary }]
        : [];
  group.setToolActive(tool, { bindings: [{ mouseButton: MouseBindings.Primary }, ...extra] });
}
