/**
 * The operation_type label of a Runtime method, as kubelet's instrumented_services.go names the
 * CRI call it stands for. A method this table does not know (added to the Runtime interface after
 * it was written) is named by its own name in snake_case, so it is still timed under a stable,
 * readable label without anyone editing this file.
 */
const kubeletNames: Record<string, string> = {
  version: 'version',
  status: 'status',
  runSandbox: 'run_podsandbox',
  stopSandbox: 'stop_podsandbox',
  removeSandbox: 'remove_podsandbox',
  sandboxStatus: 'podsandbox_status',
  listSandboxes: 'list_podsandbox',
  createContainer: 'create_container',
  startContainer: 'start_container',
  stopContainer: 'stop_container',
  removeContainer: 'remove_container',
  listContainers: 'list_containers',
  containerStatus: 'container_status',
  execSync: 'exec_sync',
  pullImage: 'pull_image',
  imageStatus: 'image_status',
  listImages: 'list_images',
  removeImage: 'remove_image',
  imageFilesystem: 'image_fs_info',
  // Ours alone: ListPodSandbox plus ListContainers without inspection, and CNI GC.
  listSummaries: 'list_summaries',
  collectNetwork: 'collect_network',
  logs: 'container_logs',
  execStreaming: 'exec',
};

export function operationType(method: string): string {
  if (Object.hasOwn(kubeletNames, method)) return kubeletNames[method]!;
  return method.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9_]/g, '_').toLowerCase();
}
